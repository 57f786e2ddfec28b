"""Task specifications shipped with choicernn (TOML files; installed as ``choicernn.task_specs``)."""
