/* being written: see common/mountpath.h */
#include "common/mountpath.h"
