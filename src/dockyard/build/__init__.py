"""Build engine: graph of steps, solver, runc executor, overlay snapshots, exporters."""
