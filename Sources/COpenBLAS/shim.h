// Thin shim over Debian's OpenBLAS CBLAS header (libopenblas-dev).
#include <cblas.h>
