/* Lua's string patterns with every step counted (core/lua/pattern.c). */
#ifndef WAFA_PATTERN_H
#define WAFA_PATTERN_H

#include <lua.h>

/* Puts find, match, gmatch and gsub into the string table at string_table.
 * check runs every few thousand steps of the matcher; it may raise (the
 * sandbox's raises once the rule's budget is spent). */
void wafa__pattern_install(lua_State *L, int string_table, void (*check)(lua_State *L));

#endif
