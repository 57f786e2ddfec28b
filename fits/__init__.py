"""Study recipes shipped with choicernn (TOML files; installed as ``choicernn.study_recipes``)."""
