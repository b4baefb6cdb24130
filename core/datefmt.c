#include "datefmt.h"
