"""Background jobs (app/gui/background.py): work on a named thread, everything it sends
delivered on the UI thread in order; loading jobs share one thread, long ones get their own;
a closed document hears nothing more from the jobs it started."""

from __future__ import annotations

import sys
import threading

from app.core.cards.loading import ModelLoadError
from app.core.document.project import Project
from app.core.editing.commands import AddNode, new_node
from app.gui import background
from app.gui import document as document_module
from app.gui.background import LOADER, Job, shared_thread
from app.gui.document import Document


def on_ui_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def recorder(job: Job) -> list:
    """What `job` delivers, in order, each marked with whether it arrived on the UI thread."""
    seen = []
    job.progress.connect(lambda items: seen.append(("progress", items, on_ui_thread())))
    job.returned.connect(lambda result: seen.append(("returned", result, on_ui_thread())))
    job.failed.connect(lambda failure: seen.append(("failed", failure, on_ui_thread())))
    job.finished.connect(lambda: seen.append(("finished", None, on_ui_thread())))
    return seen


def test_a_job_runs_on_its_thread_and_delivers_progress_then_its_result_on_the_ui_thread(qtbot):
    gate = threading.Event()

    def work(report):
        report("first")
        report("waits", True)
        report("wakes")
        gate.wait(5)
        report("late", True)  # no timer takes it: it travels with the end
        return threading.current_thread().name

    job = Job(work)
    seen = recorder(job)

    def items():
        return [item for kind, delivered, _ in seen if kind == "progress" for item in delivered]

    with qtbot.waitSignal(job.finished, timeout=5000):
        job.start("graft-test", dedicated=True)
        qtbot.waitUntil(lambda: items() == ["first", "waits", "wakes"], timeout=5000)
        gate.set()
    assert items() == ["first", "waits", "wakes", "late"]
    assert [kind for kind, _, _ in seen][-3:] == ["progress", "returned", "finished"]
    assert seen[-3][1] == ["late"]  # delivered with the end, before the result
    assert seen[-2][1] == "graft-test"  # the work ran on the thread it was named for
    assert all(ui for _, _, ui in seen)
    assert job.done and job.result == "graft-test" and job.failure is None
    assert job.wait(5000) and job.worker.isFinished()  # a dedicated thread ends with its job


def test_a_failure_arrives_with_its_traceback_and_an_unheard_one_is_not_silent(qtbot, monkeypatch):
    def work(report):
        raise ValueError("no such layer")

    job = Job(work)
    seen = recorder(job)
    with qtbot.waitSignal(job.finished, timeout=5000):
        job.start(LOADER)
    (kind, failure, ui), _ = seen
    assert kind == "failed" and ui and str(failure) == "ValueError: no such layer"
    assert failure.details.startswith("Traceback") and 'raise ValueError("no such layer")' in failure.details

    hooked = []
    monkeypatch.setattr(sys, "excepthook", lambda *info: hooked.append(info))
    unheard = Job(work)
    with qtbot.waitSignal(unheard.finished, timeout=5000):
        unheard.start(LOADER)
    assert [(kind, str(error)) for kind, error, _ in hooked] == [(ValueError, "no such layer")]


def test_loading_jobs_share_one_thread_and_run_in_the_order_started(qtbot):
    order, idents = [], []

    def step(name):
        def work(report):
            order.append(f"{name} starts")
            idents.append(threading.get_ident())
            order.append(f"{name} ends")
        return work

    jobs = [Job(step(name)) for name in "abc"]
    with qtbot.waitSignal(jobs[-1].finished, timeout=5000):
        for job in jobs:
            job.start(LOADER)
    assert order == ["a starts", "a ends", "b starts", "b ends", "c starts", "c ends"]
    assert len(set(idents)) == 1 and idents[0] != threading.get_ident()
    assert all(job.worker is shared_thread(LOADER) for job in jobs)
    assert shared_thread(LOADER).isRunning()  # kept for the next load


def test_thread_local_state_lasts_from_one_job_to_the_next_on_a_shared_thread(qtbot):
    """TensorFlow and Keras keep per-thread state (TensorFlow's eager context): a card read in
    one job uses the TensorFlow imported in an earlier one, and crashed when each job entered
    Python with a new thread state, which took the thread-local data with it."""
    local = threading.local()

    def remember(report):
        local.value = "imported"

    def recall(report):
        return getattr(local, "value", None)

    first, second = Job(remember), Job(recall)
    with qtbot.waitSignal(second.finished, timeout=5000):
        first.start("graft-test-shared")
        second.start("graft-test-shared")
    assert second.result == "imported"


def test_a_started_job_outlives_whoever_started_it(qtbot):
    gate = threading.Event()
    job = Job(lambda report: gate.wait(5) and "done")
    job.start("graft-test", dedicated=True)
    thread = job.worker
    finished = []
    job.finished.connect(lambda: finished.append(True))
    del job  # the starter lets go; the module keeps the job and its thread
    gate.set()
    qtbot.waitUntil(lambda: bool(finished) and thread not in background._threads, timeout=5000)
    assert thread.isFinished()
    qtbot.waitUntil(lambda: not background._running, timeout=5000)  # then it lets go of the job


def application_project(classes: int) -> Project:
    project = Project()
    node = new_node(project.graph, "Application",
                    {"architecture": "MobileNetV2", "weights": "imagenet", "include_top": False,
                     "input_shape": [96, 96, 3], "classes": classes}, (0, 0))
    AddNode(node).do(project)
    return project


def test_a_closed_document_hears_nothing_from_its_download(qtbot, monkeypatch):
    """The download a document started goes on after it closed (Keras's cache keeps it) but
    reports to no one: no signal of the deleted document, no error; offline, it is retried."""
    gate = threading.Event()

    def offline_after_a_while(architecture, settings, progress):
        gate.wait(10)
        progress(1000, 9_000_000)
        raise ModelLoadError(f"{architecture}: the imagenet weights could not be downloaded")

    monkeypatch.setattr(document_module, "fetch_imagenet_weights", offline_after_a_while)
    open_document, closed_document = Document(application_project(7)), Document(application_project(8))
    heard_open, heard_closed = [], []
    for document, heard in ((open_document, heard_open), (closed_document, heard_closed)):
        for signal in (document.downloadProgress, document.downloadFailed):
            signal.connect(lambda *args, heard=heard: heard.append(args))
    closed_document.close()
    closed_document.deleteLater()
    qtbot.wait(10)
    gate.set()
    qtbot.waitUntil(lambda: not open_document.loading, timeout=30000)  # its cards read, too
    open_document.close()
    drained = Job(lambda report: None).start(LOADER)  # after every download, on the same thread
    qtbot.waitUntil(lambda: drained.done, timeout=10000)
    assert heard_open[:3] == [  # (its cards loaded, it revalidates and, still offline, tries again)
        ("MobileNetV2 imagenet weights", 1000, 9_000_000),
        ("MobileNetV2 imagenet weights could not be downloaded: see the Problems panel",),
        ("MobileNetV2 imagenet weights", 1, 1)]
    assert heard_closed == []
    assert not any('"classes": 8' in key for key in document_module._fetched)  # offline: retried later
