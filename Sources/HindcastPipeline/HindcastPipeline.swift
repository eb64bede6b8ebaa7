// The HindcastPipeline module. See docs/architecture.md.
