import sys

try:
    from app.cli import main
except KeyboardInterrupt:  # Ctrl+C while Python was still importing: no traceback for that either
    sys.stderr.write("graft: interrupted\n")
    sys.exit(130)

sys.exit(main())
