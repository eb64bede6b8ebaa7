// The HindcastKernels module. See docs/architecture.md.
