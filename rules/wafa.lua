-- The Lua side of wafa's rule language.  It runs once, trusted, before any
-- rule file, and fills the API table that every rule file reads through its
-- _ENV.  Declarations are checked here, so a mistake is reported at the
-- rule file's line; the C side (core/rules.c) takes the checked
-- declarations and computes every deadline from them.
--
--   sla "name" { start = "created_at", stop = "first_reply_at",
--                target = "4h" | { urgent = "1h", high = "4h", default = "8h" },
--                when = function(t) ... end,            -- optional
--                warn = { "75%", "30m" }, on_warn = function(t, s) ... end,
--                on_breach = function(t, s) ... end
--                          | { function(t, s) ... end, after "2h" (function(t, s) ... end) } }

local api, c = ...

local declared = {}

-- Returns the duration in ms, or raises an error at the rule file's line
-- (level counts from the caller of check_duration).
local function check_duration(v, what, level)
  if type(v) ~= "string" then
    error(string.format('%s: expected a duration string like "90s", "15m", "4h", "2d", got %s',
      what, type(v)), level + 1)
  end
  local ms, why = c.duration(v)
  if not ms then
    error(string.format('%s "%s": %s', what, v, why), level + 1)
  end
  return ms
end

local PRIORITIES = { low = true, normal = true, high = true, urgent = true, default = true }

local function check_target(v, level)
  if type(v) == "string" then
    return { default = check_duration(v, "target", level + 1) }
  end
  if type(v) ~= "table" then
    error('target: expected a duration like "4h" or a table by priority like '
      .. '{ urgent = "1h", default = "8h" }', level + 1)
  end
  local t = {}
  for k, d in pairs(v) do
    if not PRIORITIES[k] then
      error(string.format('target: unknown priority "%s" (use low, normal, high, urgent, default)',
        tostring(k)), level + 1)
    end
    t[k] = check_duration(d, "target." .. k, level + 1)
  end
  if next(t) == nil then
    error("target: the table is empty", level + 1)
  end
  return t
end

local function check_column(v, what, level)
  if type(v) ~= "string" or not c.time_columns[v] then
    local names = {}
    for name in pairs(c.time_columns) do names[#names + 1] = name end
    table.sort(names)
    error(string.format('%s: "%s" is not a ticket timestamp (use one of %s)',
      what, tostring(v), table.concat(names, ", ")), level + 1)
  end
  return v
end

local AFTER = {}

-- after "2h" (function(t, s) ... end): an escalation step after the breach.
function api.after(d)
  local ms = check_duration(d, "after", 2)
  return function(fn)
    if type(fn) ~= "function" then
      error('after "' .. d .. '": expected a function, as in after "2h" (function(t, s) ... end)', 2)
    end
    return setmetatable({ offset = ms, text = d, fn = fn }, AFTER)
  end
end

local SLA_FIELDS = {
  start = true, stop = true, target = true, when = true, warn = true,
  on_warn = true, on_breach = true,
}

local function check_breach(v, level)
  local phases = {}
  if type(v) == "function" then
    phases[1] = { name = "breach", offset = 0, fn = v }
    return phases
  end
  if type(v) ~= "table" then
    error("on_breach: expected a function or a list of functions and after steps", level + 1)
  end
  for i, step in ipairs(v) do
    if type(step) == "function" then
      phases[#phases + 1] = { name = i == 1 and "breach" or "breach#" .. i, offset = 0, fn = step }
    elseif getmetatable(step) == AFTER then
      phases[#phases + 1] = { name = "breach+" .. step.text, offset = step.offset, fn = step.fn }
    else
      error(string.format("on_breach[%d]: expected a function or after \"2h\" (function ... end)", i),
        level + 1)
    end
  end
  if #phases == 0 then
    error("on_breach: the list is empty", level + 1)
  end
  return phases
end

local function check_warn(spec, level)
  local phases = {}
  if spec.warn == nil then
    if spec.on_warn ~= nil then
      error('on_warn: set warn too, like warn = { "75%" }', level + 1)
    end
    return phases
  end
  if type(spec.on_warn) ~= "function" then
    error("warn: set on_warn = function(t, s) ... end too", level + 1)
  end
  local list = spec.warn
  if type(list) == "string" then list = { list } end
  if type(list) ~= "table" then
    error('warn: expected a list like { "75%", "30m" }', level + 1)
  end
  for i, w in ipairs(list) do
    local pct = type(w) == "string" and w:match("^(%d+)%%$")
    if pct then
      pct = tonumber(pct)
      if pct < 1 or pct > 99 then
        error(string.format('warn[%d] "%s": a percentage of the target from 1%% to 99%%', i, w),
          level + 1)
      end
      phases[#phases + 1] = { name = "warn-" .. w, pct = pct, fn = spec.on_warn }
    else
      local ms = check_duration(w, string.format("warn[%d]", i), level + 1)
      phases[#phases + 1] = { name = "warn-" .. w, offset = -ms, fn = spec.on_warn }
    end
  end
  return phases
end

-- sla "name" { ... }: a deadline measured from one timestamp until another.
function api.sla(name)
  if type(name) ~= "string" or name == "" or name:find("[/%c]") then
    error('sla: give the rule a name without "/", like sla "first-response" { ... }', 2)
  end
  return function(spec)
    if type(spec) ~= "table" then
      error('sla "' .. name .. '": expected a table, like sla "' .. name .. '" { target = "4h", ... }', 2)
    end
    for k in pairs(spec) do
      if not SLA_FIELDS[k] then
        error(string.format('sla "%s": unknown field "%s" (known: start, stop, target, when, warn, '
          .. 'on_warn, on_breach)', name, tostring(k)), 2)
      end
    end
    local decl = {
      kind = "sla", name = name, where = c.where(2),
      start = check_column(spec.start or "created_at", "start", 2),
      stop = spec.stop ~= nil and check_column(spec.stop, "stop", 2) or nil,
    }
    if spec.target == nil then
      error('sla "' .. name .. '": target is required, like target = "4h"', 2)
    end
    decl.target = check_target(spec.target, 2)
    if spec.when ~= nil and type(spec.when) ~= "function" then
      error("when: expected function(t) ... end", 2)
    end
    decl.when = spec.when
    if spec.on_breach == nil and spec.warn == nil then
      error('sla "' .. name .. '": nothing to do; set on_breach (and/or warn with on_warn)', 2)
    end
    decl.phases = check_warn(spec, 2)
    if spec.on_breach ~= nil then
      for _, p in ipairs(check_breach(spec.on_breach, 2)) do decl.phases[#decl.phases + 1] = p end
    end
    declared[#declared + 1] = decl
  end
end

-- now(): the current time in Unix seconds, from wafa's clock.
api.now = c.now

-- duration("2h") -> 7200 (seconds), for arithmetic in rules.
function api.duration(d)
  return check_duration(d, "duration", 2) // 1000
end

-- The C side takes what the last rule file declared.
return function()
  local list = declared
  declared = {}
  return list
end
