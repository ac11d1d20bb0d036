"""Model factories and presets around library models, and the few models no library has."""
