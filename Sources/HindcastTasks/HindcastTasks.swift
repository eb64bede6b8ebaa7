// The HindcastTasks module. See docs/architecture.md.
