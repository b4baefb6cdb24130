#include "base/error.h"

#include <string.h>

const char *wafa_strerror(int err)
{
	return strerror(err < 0 ? -err : err);
}
