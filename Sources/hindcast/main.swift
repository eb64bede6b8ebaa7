import HindcastCLI

// Same matrix-product kernels on every AVX2 machine (BLASCore): may restart the process once.
pinBLASKernels()
hindcastMain()
