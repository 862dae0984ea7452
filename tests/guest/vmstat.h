/*
 * One counter of /proc/vmstat, for the swap programs (swap_pressure.c,
 * swap_mlock.c): its value, or 0 when /proc/vmstat is not there or does
 * not have it (a host without swap counters reads as nothing moved).
 */
#ifndef VMSTAT_H
#define VMSTAT_H

#include <stdio.h>
#include <string.h>

static unsigned long vmstat(const char *name)
{
	FILE *f = fopen("/proc/vmstat", "r");
	char key[64];
	unsigned long v, found = 0;

	if (!f)
		return 0;
	while (fscanf(f, "%63s %lu", key, &v) == 2)
		if (!strcmp(key, name))
			found = v;
	fclose(f);
	return found;
}

#endif
