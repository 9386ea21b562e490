"""The project: graph, training setup and cards; its file format, migrations, paths and atomic writes."""
