// The HindcastStorage module. See docs/architecture.md.
