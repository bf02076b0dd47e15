// libnuma's headers, imported as the Swift module CNuma.
#include <numa.h>
#include <numaif.h>
