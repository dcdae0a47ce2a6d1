#pragma once
#include <cblas.h>

// OpenBLAS extensions used by HSNNMath's BLAS bridge. OpenBLAS's own cblas.h declares them
// already; repeating the prototypes keeps the module building if the include
// path ever resolves to a reference CBLAS header that lacks them (the link
// against libopenblas still provides the symbols).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
int openblas_get_num_procs(void);
char *openblas_get_config(void);
char *openblas_get_corename(void);
