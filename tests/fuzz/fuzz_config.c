/* libFuzzer target: the config parser on arbitrary bytes. */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "base/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct wafa_config cfg;
	FILE *f, *devnull = fopen("/dev/null", "w");

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/wafa-fuzz-config-%d", (int)getpid());
	f = fopen(path, "wb");
	if (!f || !devnull)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if (wafa_config_load(path, &cfg, devnull) == 0)
		fprintf(devnull, "%s", cfg.dsn);
	wafa_config_free(&cfg);
	fclose(devnull);
	return 0;
}
