// The HindcastTraining module. See docs/architecture.md.
