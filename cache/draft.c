/* being written: see cache/draft.h */
#include "cache/draft.h"
