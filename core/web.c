#include "web.h"
