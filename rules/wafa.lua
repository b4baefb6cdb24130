-- The Lua side of wafa's rule language.  It runs once, trusted, before any
-- rule file, and fills the API table that every rule file reads through its
-- _ENV.  Declarations are checked here, so a mistake is reported at the
-- rule file's line; the C side (core/lua/rules.c) takes the checked
-- declarations and computes every deadline from them.
--
--   calendar "name" { timezone = "Africa/Cairo", hours = { sun = "09:00-17:00", ... },
--                     holidays = { "2026-10-06", "12-25", hijri "10-01", persian "01-01" } }
--   sla "name" { start = "created_at", stop = "first_reply_at",
--                target = "4h" | { urgent = "1h", default = "8h" } | function(t) ... end,
--                when = function(t) ... end,            -- optional
--                calendar = "name", restart_on_reopen = false,
--                pause = { "pending", raw "Waiting for vendor", function(t) ... end },
--                notify_in = "business" | "any",
--                warn = { "75%", "30m" }, on_warn = function(t, s) ... end,
--                on_breach = function(t, s) ... end
--                          | { function(t, s) ... end, after "2h" (function(t, s) ... end) } }
--   promise "name" { at = "due_at" | function(t) ... end, stop = "solved_at",
--                    warn = { "2h" }, on_warn = ..., on_breach = ..., calendar, notify_in, when }
--   sla "name" { ..., goal = "95%" }   -- the share to meet, shown by wafa report
--   report "weekly" { every = "7d", to = "manager@example.com", locale = "ar-EG" }

local api, c = ...

local declared = {}

-- Returns the duration in ms, or raises an error at the rule file's line
-- (level counts from the caller of check_duration).
local function check_duration(v, what, level, days_too)
  if type(v) ~= "string" then
    error(string.format('%s: expected a duration string like "90s", "15m", "4h", "2d", got %s',
      what, type(v)), level + 1)
  end
  if v:match("^%s*%d+%s*bd%s*$") then
    if not days_too then
      error(string.format('%s "%s": business days ("bd") are for a target; here write business '
        .. 'hours, like "8h"', what, v), level + 1)
    end
    local n, why = c.business_days(v)
    if not n then error(string.format('%s "%s": %s', what, v, why), level + 1) end
    return n
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
    return { default = check_duration(v, "target", level + 1, true) }
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
    t[k] = check_duration(d, "target." .. k, level + 1, true)
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

-- The library's metatables are hidden (__metatable): a rule that reached one
-- could add a __gc that runs outside the budget, or pass data to another
-- rule file through it.  What the library made is known by a weak set.
local AFTER = { __metatable = false }
local afters = setmetatable({}, { __mode = "k" })

-- after "2h" (function(t, s) ... end): an escalation step after the breach.
function api.after(d)
  local ms = check_duration(d, "after", 2)
  return function(fn)
    if type(fn) ~= "function" then
      error('after "' .. d .. '": expected a function, as in after "2h" (function(t, s) ... end)', 2)
    end
    local step = setmetatable({ offset = ms, text = d, fn = fn }, AFTER)
    afters[step] = true
    return step
  end
end

local SLA_FIELDS = {
  start = true, stop = true, target = true, when = true, warn = true,
  on_warn = true, on_breach = true, calendar = true, pause = true,
  restart_on_reopen = true, notify_in = true, goal = true, on_answer = true,
}
local SLA_FIELD_LIST = "start, stop, target, when, calendar, pause, restart_on_reopen, "
  .. "notify_in, warn, on_warn, on_breach, goal, on_answer"

local PROMISE_FIELDS = {
  at = true, stop = true, when = true, warn = true, on_warn = true, on_breach = true,
  calendar = true, notify_in = true, on_answer = true,
}
local PROMISE_FIELD_LIST = "at, stop, when, calendar, notify_in, warn, on_warn, on_breach, on_answer"

local STATUSES = { new = true, open = true, pending = true, solved = true, closed = true }

-- raw "Waiting for vendor": the helpdesk's own status name (t.raw_status), for
-- pause; matched without regard to case.
local RAW = {}
function api.raw(name)
  if type(name) ~= "string" or not name:match("%S") then
    error('raw: expected the helpdesk\'s own status name, like raw "Waiting for vendor"', 2)
  end
  return setmetatable({ raw = name }, RAW)
end

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
    elseif afters[step] then
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

local function check_warn(spec, level, no_pct)
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
    if pct and no_pct then
      error(string.format('warn[%d] "%s": a promise has no target to take a share of; '
        .. 'give a time before the date, like "2h"', i, w), level + 1)
    elseif pct then
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

local function check_name(kind, name, level)
  if type(name) ~= "string" or name == "" or name:find("[/%c]") then
    error(string.format('%s: give it a name without "/", like %s "%s" { ... }', kind, kind,
      kind == "calendar" and "cairo" or kind == "promise" and "promised-date" or "first-response"),
      level + 1)
  end
end

local function check_fields(kind, name, spec, known, list, level)
  if type(spec) ~= "table" then
    error(string.format('%s "%s": expected a table, like %s "%s" { ... }', kind, name, kind, name),
      level + 1)
  end
  for k in pairs(spec) do
    if not known[k] then
      error(string.format('%s "%s": unknown field "%s" (known: %s)', kind, name, tostring(k), list),
        level + 1)
    end
  end
end

-- The options sla and promise share: when, calendar, notify_in.
local function check_common(decl, spec, level)
  if spec.when ~= nil and type(spec.when) ~= "function" then
    error("when: expected function(t) ... end", level + 1)
  end
  decl.when = spec.when
  if spec.calendar ~= nil then
    if type(spec.calendar) == "function" then
      decl.calendar_fn = spec.calendar     -- the calendar's name for each ticket, or nil
    elseif type(spec.calendar) ~= "string" then
      error('calendar: expected the name of a calendar, like calendar = "cairo", or '
        .. 'function(t) ... end returning one for each ticket', level + 1)
    else
      decl.calendar = spec.calendar
    end
  end
  local n = spec.notify_in
  if n ~= nil and n ~= "business" and n ~= "any" then
    error('notify_in: expected "business" (hold steps until the calendar opens) or "any"', level + 1)
  end
  if n == "business" and spec.calendar == nil then
    error('notify_in = "business" needs a calendar = "name"', level + 1)
  end
  decl.notify_business = n == "business"
  -- on_answer = function(t, a): once per survey answer of a ticket the rule covers
  if spec.on_answer ~= nil and type(spec.on_answer) ~= "function" then
    error("on_answer: expected function(t, a) ... end (a: score, comment, survey, at, rule)",
      level + 1)
  end
  decl.answer_fn = spec.on_answer
end

local function check_actions(kind, name, decl, spec, level, no_pct)
  if spec.on_breach == nil and spec.warn == nil then
    error(string.format('%s "%s": nothing to do; set on_breach (and/or warn with on_warn)',
      kind, name), level + 1)
  end
  decl.phases = check_warn(spec, level + 1, no_pct)
  if spec.on_breach ~= nil then
    for _, p in ipairs(check_breach(spec.on_breach, level + 1)) do decl.phases[#decl.phases + 1] = p end
  end
end

-- sla "name" { ... }: a deadline measured from one timestamp until another.
function api.sla(name)
  check_name("sla", name, 2)
  return function(spec)
    check_fields("sla", name, spec, SLA_FIELDS, SLA_FIELD_LIST, 2)
    local decl = {
      kind = "sla", name = name, where = c.where(2),
      start = check_column(spec.start or "created_at", "start", 2),
      stop = spec.stop ~= nil and check_column(spec.stop, "stop", 2) or nil,
    }
    if spec.target == nil then
      error('sla "' .. name .. '": target is required, like target = "4h"', 2)
    end
    if type(spec.target) == "function" then
      decl.target_fn = spec.target
    else
      decl.target = check_target(spec.target, 2)
    end
    check_common(decl, spec, 2)
    if spec.pause ~= nil then
      local list = spec.pause
      if type(list) == "table" and getmetatable(list) ~= RAW and list.raw ~= nil and #list > 0 then
        error('pause: raw = ... and a list in one table; write each raw status as its own '
          .. 'entry, like pause = { "pending", raw "On hold" }', 2)
      end
      if type(list) ~= "table" or getmetatable(list) == RAW or list.raw ~= nil then
        list = { list }
      end
      decl.pause, decl.pause_raw = {}, {}
      local fns = {}
      for i, st in ipairs(list) do
        if type(st) == "function" then
          fns[#fns + 1] = st
        elseif type(st) == "table" and type(st.raw) == "string" and st.raw:match("%S") then
          decl.pause_raw[#decl.pause_raw + 1] = st.raw
        elseif STATUSES[st] then
          decl.pause[#decl.pause + 1] = st
        else
          if type(st) == "string" then
            error(string.format('pause[%d]: "%s" is not a status: for the helpdesk\'s own status '
              .. 'name write raw "%s"; the normalized statuses are new, open, pending, solved, '
              .. 'closed; a function of the ticket works too', i, st, st), 2)
          end
          error(string.format('pause[%d]: expected a status like "pending", the helpdesk\'s own '
            .. 'status like raw "On hold" (or { raw = "On hold" }), or a function of the ticket '
            .. 'like function(t) return t.extra.waiting_on == "vendor" end; got %s', i,
            type(st)), 2)
        end
      end
      if #fns == 1 then
        decl.pause_fn = fns[1]
      elseif #fns > 1 then
        decl.pause_fn = function(t)
          for _, f in ipairs(fns) do
            if f(t) then return true end
          end
          return false
        end
      end
    end
    if spec.restart_on_reopen ~= nil and type(spec.restart_on_reopen) ~= "boolean" then
      error("restart_on_reopen: expected true or false", 2)
    end
    decl.restart_on_reopen = spec.restart_on_reopen == true
    if spec.goal ~= nil then
      local g = type(spec.goal) == "string" and tonumber(spec.goal:match("^(%d+%.?%d*)%%$"))
      if not g or g <= 0 or g > 100 then
        error('goal: expected the share of instances to meet, from "1%" to "100%", like '
          .. 'goal = "95%"', 2)
      end
      decl.goal = g
    end
    check_actions("sla", name, decl, spec, 2)
    declared[#declared + 1] = decl
  end
end

-- promise "name" { at = "due_at", ... }: a date promised to the customer.
function api.promise(name)
  check_name("promise", name, 2)
  return function(spec)
    check_fields("promise", name, spec, PROMISE_FIELDS, PROMISE_FIELD_LIST, 2)
    local decl = { kind = "promise", name = name, where = c.where(2) }
    if spec.at == nil then
      error('promise "' .. name .. '": at is required, like at = "due_at" or '
        .. 'at = function(t) return wafa.promise_in(t.last_agent_body, t) end', 2)
    elseif type(spec.at) == "function" then
      decl.at_fn = spec.at
    else
      decl.at = check_column(spec.at, "at", 2)
    end
    decl.stop = check_column(spec.stop or "solved_at", "stop", 2)
    check_common(decl, spec, 2)
    check_actions("promise", name, decl, spec, 2, true)
    declared[#declared + 1] = decl
  end
end

local FOLLOWUP_FIELDS = {
  since = true, after = true, once = true, every = true, max = true, ["until"] = true,
  stop = true, unless = true, when = true, on_due = true, calendar = true, notify_in = true,
  on_answer = true,
}
local FOLLOWUP_FIELD_LIST = "since, after, once, every, max, stop (or [\"until\"]), unless, when, "
  .. "calendar, notify_in, on_due, on_answer"

-- followup "name" { since = "solved_at", after = "2d", on_due = function(t, s) ... end }:
-- mail after a ticket event, once, or every so often (every = "3d", max = 3)
-- until until(t, s) holds.
function api.followup(name)
  check_name("followup", name, 2)
  return function(spec)
    check_fields("followup", name, spec, FOLLOWUP_FIELDS, FOLLOWUP_FIELD_LIST, 2)
    local decl = { kind = "followup", name = name, where = c.where(2),
                   start = check_column(spec.since or "solved_at", "since", 2) }
    if spec.after == nil then
      error('followup "' .. name .. '": after is required, like after = "2d"', 2)
    end
    local after = check_duration(spec.after, "after", 2)
    check_common(decl, spec, 2)
    if type(spec.on_due) ~= "function" then
      error('followup "' .. name .. '": on_due = function(t, s) ... end is required', 2)
    end
    -- `until` is a Lua keyword: stop = function(t, s) ... end says the same
    if spec["until"] ~= nil and spec.stop ~= nil then
      error('followup "' .. name .. '": stop and ["until"] are the same; keep one', 2)
    end
    for _, f in ipairs({ "until", "stop", "unless" }) do
      if spec[f] ~= nil and type(spec[f]) ~= "function" then
        error(f .. ": expected function(t, s) ... end", 2)
      end
    end
    decl.until_fn, decl.unless_fn = spec["until"] or spec.stop, spec.unless
    local every, max = nil, 1
    if spec.every ~= nil then
      if spec.once == true then
        error('followup "' .. name .. '": once = true and every do not go together; keep one', 2)
      end
      every = check_duration(spec.every, "every", 2)
      if every <= 0 then error("every: must be longer than 0", 2) end
      max = 12
    elseif spec.once ~= nil and spec.once ~= true then
      error('once: only once = true is meaningful (for more, set every = "3d")', 2)
    end
    if spec.max ~= nil then
      if spec.every == nil then
        error('max: set every = "3d" too (without it a follow-up is sent once)', 2)
      end
      if math.type(spec.max) ~= "integer" or spec.max < 1 or spec.max > 100 then
        error("max: a whole number from 1 to 100", 2)
      end
      max = spec.max
    end
    decl.phases = {}
    for k = 1, max do
      decl.phases[k] = { name = max == 1 and "due" or ("due#" .. k), due = true,
                         offset = after + (k - 1) * (every or 0), fn = spec.on_due }
    end
    declared[#declared + 1] = decl
  end
end

local OFFER_FIELDS = { audience = true, every = true, on_due = true }

-- offer "name" { audience = function(c) ... end, every = "90d", on_due = function(c, s) ... end }:
-- over customers, not tickets; each customer at most once per `every`.
function api.offer(name)
  check_name("offer", name, 2)
  return function(spec)
    check_fields("offer", name, spec, OFFER_FIELDS, "audience, every, on_due", 2)
    local decl = { kind = "offer", name = name, where = c.where(2) }
    if type(spec.audience) ~= "function" then
      error('offer "' .. name .. '": audience = function(c) ... end is required '
        .. '(c: email, name, locale, tz, tickets, open, solved, first_contact, last_contact, '
        .. 'last_breach)', 2)
    end
    if type(spec.on_due) ~= "function" then
      error('offer "' .. name .. '": on_due = function(c, s) ... end is required', 2)
    end
    if spec.every == nil then
      error('offer "' .. name .. '": every is required, like every = "90d"', 2)
    end
    decl.every = check_duration(spec.every, "every", 2)
    if decl.every < 3600000 then
      error('every: an offer comes at most once an hour (use "1h" or more)', 2)
    end
    decl.audience = spec.audience
    decl.phases = { { name = "due", due = true, offset = 0, fn = spec.on_due } }
    declared[#declared + 1] = decl
  end
end

local REPORT_FIELDS = { every = true, to = true, locale = true, by = true }

-- report "weekly" { every = "7d", to = "manager@example.com", locale = "ar-EG", by = "queue" }:
-- the service report (wafa report) of each past period, mailed once.
function api.report(name)
  check_name("report", name, 2)
  return function(spec)
    check_fields("report", name, spec, REPORT_FIELDS, "every, to, locale, by", 2)
    local decl = { kind = "report", name = name, where = c.where(2) }
    if spec.every == nil then
      error('report "' .. name .. '": every is required, like every = "7d"', 2)
    end
    decl.every = check_duration(spec.every, "every", 2)
    if decl.every < 3600000 or decl.every % 3600000 ~= 0 then
      error('every: whole hours, at least "1h" (a week is "7d")', 2)
    end
    if type(spec.to) ~= "string" or not spec.to:find("@", 1, true) or spec.to:find("[\r\n]") then
      error('report "' .. name .. '": to is required, a mail address like '
        .. 'to = "manager@example.com"', 2)
    end
    decl.to = spec.to
    if spec.locale ~= nil then
      if type(spec.locale) ~= "string" or not spec.locale:match("^%a%a%a?[%w_%-]*$") then
        error('locale: expected a locale like "en", "ar-EG" or "fa-IR"', 2)
      end
      decl.locale = spec.locale
    end
    if spec.by ~= nil and spec.by ~= "queue" and spec.by ~= "priority" and spec.by ~= "rule"
        and spec.by ~= "owner" then
      error('by: expected "queue", "priority", "rule" or "owner"', 2)
    end
    decl.by = spec.by
    declared[#declared + 1] = decl
  end
end

local DAYS = { sun = 0, mon = 1, tue = 2, wed = 3, thu = 4, fri = 5, sat = 6 }
local HOLIDAY = { __metatable = false } -- hidden, as AFTER
local holidays = setmetatable({}, { __mode = "k" })

local function month_day(kind, v, level)
  local m, d
  if type(v) == "string" then m, d = v:match("^(%d%d?)%-(%d%d?)$") end
  if not m then
    error(string.format('%s: expected a month-day like %s "10-01"', kind, kind), level + 1)
  end
  local h = setmetatable({ kind = kind, month = tonumber(m), day = tonumber(d) }, HOLIDAY)
  holidays[h] = true
  return h
end

-- hijri "10-01": a holiday on a Hijri (Umm al-Qura) month-day, every year.
-- (not tail calls: the error level counts their frames)
function api.hijri(v) local h = month_day("hijri", v, 2) return h end
-- persian "01-01": a holiday on a Solar Hijri month-day (Nowruz), every year.
function api.persian(v) local h = month_day("persian", v, 2) return h end

local CALENDAR_FIELDS = { timezone = true, hours = true, holidays = true, special = true }

-- A day as holidays and special periods write it, for the C side, or nil.
local function calendar_day(h)
  if holidays[h] then
    return { kind = h.kind, year = 0, month = h.month, day = h.day,
             text = h.kind .. ' "' .. h.month .. "-" .. h.day .. '"' }
  elseif type(h) == "string" and h:match("^%d%d%d%d%-%d%d?%-%d%d?$") then
    local y, m, d = h:match("^(%d+)%-(%d+)%-(%d+)$")
    return { kind = "date", year = tonumber(y), month = tonumber(m), day = tonumber(d), text = h }
  elseif type(h) == "string" and h:match("^%d%d?%-%d%d?$") then
    local m, d = h:match("^(%d+)%-(%d+)$")
    return { kind = "yearly", year = 0, month = tonumber(m), day = tonumber(d), text = h }
  end
  return nil
end

-- A week's hours ({ sun = "09:00-17:00", ... }) as a list for the C side.
local function week_hours(hours, what, level)
  local list = {}
  for k, v in pairs(hours) do
    if DAYS[k] == nil then
      error(string.format('%s: unknown day "%s" (use sun, mon, tue, wed, thu, fri, sat)',
        what, tostring(k)), level + 1)
    end
    if type(v) ~= "string" then
      error(string.format('%s.%s: expected a string like "09:00-17:00"', what, k), level + 1)
    end
    list[#list + 1] = { day = DAYS[k], spec = v, text = k }
  end
  return list
end

-- special = { { from, [to,] hours = "09:00-13:00" | { sun = ..., ... } }, ... }
local function special_periods(name, special, level)
  local list = {}
  if type(special) ~= "table" then
    error('calendar "' .. name .. '": special: expected a list like special = { { hijri "09-01", '
      .. 'hijri "09-30", hours = { sun = "09:00-14:00", ... } }, { "2026-12-24", hours = '
      .. '"09:00-13:00" } }', level + 1)
  end
  for i, p in ipairs(special) do
    local what = string.format("special[%d]", i)
    if type(p) ~= "table" then
      error(what .. ': expected { from, to, hours = ... }, like { hijri "09-01", hijri "09-30", '
        .. 'hours = { sun = "09:00-14:00" } } or { "2026-12-24", hours = "09:00-13:00" }', level + 1)
    end
    for k in pairs(p) do
      if k ~= 1 and k ~= 2 and k ~= "hours" then
        error(string.format('%s: unknown field "%s" (a period is { from, to, hours = ... })',
          what, tostring(k)), level + 1)
      end
    end
    local from, to = calendar_day(p[1]), calendar_day(p[2] == nil and p[1] or p[2])
    if not from or not to then
      error(what .. ': its days are "2026-12-24" (a date), "07-01" (every year), hijri "09-01" or '
        .. 'persian "01-01"; give the first day, and the last if it is not the same', level + 1)
    end
    if from.kind ~= to.kind then
      error(string.format('%s: %s and %s are written differently: write both days the same way',
        what, from.text, to.text), level + 1)
    end
    local period = { kind = from.kind, from = from, to = to, hours = {},
                     text = from.text .. (p[2] ~= nil and (" to " .. to.text) or "") }
    if type(p.hours) == "string" then
      period.hours[1] = { day = -1, spec = p.hours, text = "hours" }
    elseif type(p.hours) == "table" then
      period.hours = week_hours(p.hours, what .. ".hours", level + 1)
    else
      error(what .. ': hours is required: "09:00-13:00" for every day of the period, '
        .. '{ sun = "09:00-14:00", ... } by weekday (a day left out is closed), or {} for closed',
        level + 1)
    end
    list[#list + 1] = period
  end
  return list
end

-- calendar "name" { timezone = ..., hours = { ... }, holidays = { ... } }
function api.calendar(name)
  check_name("calendar", name, 2)
  return function(spec)
    check_fields("calendar", name, spec, CALENDAR_FIELDS, "timezone, hours, holidays, special", 2)
    if type(spec.timezone) ~= "string" then
      error('calendar "' .. name .. '": timezone is required, like timezone = "Africa/Cairo"', 2)
    end
    if type(spec.hours) ~= "table" then
      error('calendar "' .. name .. '": hours is required, like hours = { mon = "09:00-17:00", ... }'
        .. ' (a day left out is closed)', 2)
    end
    local decl = { kind = "calendar", name = name, where = c.where(2), timezone = spec.timezone,
                   hours = week_hours(spec.hours, "hours", 2), holidays = {},
                   special = spec.special ~= nil and special_periods(name, spec.special, 2) or {} }
    for i, h in ipairs(spec.holidays or {}) do
      local day = calendar_day(h)
      if not day then
        error(string.format('holidays[%d]: expected "2026-10-06" (a date), "12-25" (every year), '
          .. 'hijri "10-01" or persian "01-01"', i), 2)
      end
      decl.holidays[#decl.holidays + 1] = day
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
