/* being written: see registry/listbuild.h */
#include "registry/listbuild.h"
