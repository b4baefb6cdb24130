/* wafa run's memory in transparent huge pages.  A cold start at 1M tickets
 * touches 300 MB a page at a time: 82,000 page faults, and the index's and
 * the deadline heap's lookups miss the TLB.  glibc's malloc asks the kernel
 * for 2 MB pages when the glibc.malloc.hugetlb tunable is 1, and a tunable
 * is read only when a process starts, so `wafa run` sets it and executes
 * itself once more (same pid, same arguments, same name).  An admin who
 * set the tunable in GLIBC_TUNABLES, to 0 or 1, keeps their choice; with
 * the kernel's transparent_hugepage at "never" the pages stay 4 KB. */
#ifndef WAFA_HUGEPAGE_H
#define WAFA_HUGEPAGE_H

/* Executes wafa's own binary (/proc/self/exe's target) with argv and
 * glibc.malloc.hugetlb=1 added to GLIBC_TUNABLES, unless GLIBC_TUNABLES
 * names that tunable already.  Returns only when it did not execute (then
 * nothing has changed). */
void wafa_hugepage_exec(char **argv);

#endif
