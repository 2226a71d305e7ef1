//! The agent's configuration (standalone mode: a YAML file).
