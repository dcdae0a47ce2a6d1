#pragma once
#include <cblas.h>
// OpenBLAS extensions (declared in cblas.h of OpenBLAS builds).
