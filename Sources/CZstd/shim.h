// Thin shim over the zstd library headers (libzstd-dev). The dictionary builder API lives in zdict.h.
#include <zstd.h>
#include <zdict.h>
#include <zstd_errors.h>
