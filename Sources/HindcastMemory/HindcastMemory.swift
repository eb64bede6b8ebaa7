// The HindcastMemory module. See docs/architecture.md.
