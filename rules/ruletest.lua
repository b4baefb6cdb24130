-- The Lua side of `wafa test`: the test language.  It runs once, trusted,
-- in the test files' sandbox (no io, os, require, load, debug), and fills
-- the API table every test file reads.  The engine behind it is core/tools/ruletest.c:
-- the daemon's own scheduling and firing on a virtual clock, with tickets
-- kept in memory and mails collected instead of sent.
--
--   test "urgent tickets breach after an hour" {
--     zone = "Africa/Cairo",              -- optional: times without a zone are read here (UTC)
--     rules = { "first-response" },       -- optional: whose transitions and mails to look at
--     function(t)
--       t.at "2026-03-05 09:00"
--       local tk = t.ticket { priority = "urgent", owner_email = "omar@example.com" }
--       t.wait "1h"
--       t.expect { event = "breach", ticket = tk }
--       t.expect_mail { to = "omar@example.com", subject = t.contains "SLA breached" }
--     end,
--   }

local api, c = ...

local declared = {}

local STR_COLS = {
  ref = true, subject = true, status = true, raw_status = true, priority = true, queue = true,
  customer_email = true, customer_name = true, customer_locale = true, customer_tz = true,
  owner_email = true, owner_name = true, extra = true, last_agent_body = true,
  thread_message_id = true,
}
local TIME_COLS = {
  created_at = true, first_reply_at = true, last_customer_at = true, last_agent_at = true,
  solved_at = true, due_at = true, updated_at = true,
}
local STATUSES = { new = true, open = true, pending = true, solved = true, closed = true }
local PRIORITIES = { low = true, normal = true, high = true, urgent = true }

local function sorted_keys(set)
  local list = {}
  for k in pairs(set) do list[#list + 1] = k end
  table.sort(list)
  return table.concat(list, ", ")
end

local ALL_COLS = {}
for k in pairs(STR_COLS) do ALL_COLS[k] = true end
for k in pairs(TIME_COLS) do ALL_COLS[k] = true end
ALL_COLS.id = true
local COL_LIST = sorted_keys(ALL_COLS)

-- test "name" { function(t) ... end } or test "name" (function(t) ... end)
local TEST_OPTIONS = { zone = true, rules = true, start = true }

function api.test(name)
  if type(name) ~= "string" or name == "" then
    error('test: give it a name, like test "urgent tickets breach after an hour" { ... }', 2)
  end
  local where = c.where(2)
  return function(spec)
    if type(spec) == "function" then spec = { spec } end
    if type(spec) ~= "table" or type(spec[1]) ~= "function" then
      error('test "' .. name .. '": expected { function(t) ... end }', 2)
    end
    for k in pairs(spec) do
      if k ~= 1 and not TEST_OPTIONS[k] then
        error(string.format('test "%s": unknown option "%s" (known: zone, rules, start)',
          name, tostring(k)), 2)
      end
    end
    if spec.zone ~= nil then
      local ok, why = c.parse_time("2026-01-01 00:00", spec.zone)
      if type(spec.zone) ~= "string" or not ok then
        error(string.format('test "%s": zone "%s": %s', name, tostring(spec.zone),
          why or "expected a time zone name like \"Africa/Cairo\""), 2)
      end
    end
    if spec.rules ~= nil and spec.rules ~= "all" and type(spec.rules) ~= "table"
        and type(spec.rules) ~= "string" then
      error('rules: expected a rule name, a list of them, or "all"', 2)
    end
    if spec.start ~= nil and type(spec.start) ~= "string" then
      error('start: expected a time like "2026-03-05 09:00"', 2)
    end
    declared[#declared + 1] = { name = name, fn = spec[1], zone = spec.zone, rules = spec.rules,
                                start = spec.start, where = where }
  end
end

-- duration("2h") -> 7200, as in rules
function api.duration(d)
  local ms, why = c.duration(d)
  if not ms then error(string.format('duration "%s": %s', tostring(d), why), 2) end
  return ms // 1000
end

-- ---- JSON for extra = { ... } ----

local function json(v, depth)
  depth = depth or 0
  if depth > 32 then error("extra: nested too deep", 0) end
  local ty = type(v)
  if ty == "string" then
    return '"' .. v:gsub('[%c"\\]', function(ch)
      if ch == '"' then return '\\"' elseif ch == "\\" then return "\\\\" end
      return string.format("\\u%04x", ch:byte())
    end) .. '"'
  elseif ty == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    return string.format("%.17g", v)
  elseif ty == "boolean" then
    return tostring(v)
  elseif ty == "table" then
    local n = #v
    local parts = {}
    if n > 0 then
      for i = 1, n do parts[i] = json(v[i], depth + 1) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    for _, k in ipairs(keys) do
      parts[#parts + 1] = json(k) .. ":" .. json(v[k], depth + 1)
    end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  error("extra: cannot hold a " .. ty, 0)
end

-- ---- matchers ----

-- hidden (__metatable), like the rule library's: known by a weak set
local MATCHER = { __metatable = false }
local matchers = setmetatable({}, { __mode = "k" })

local function matcher(words, fn)
  local m = setmetatable({ words = words, fn = fn }, MATCHER)
  matchers[m] = true
  return m
end

local function quote(v)
  if type(v) == "string" then return string.format("%q", v):gsub("\\\n", "\\n") end
  return tostring(v)
end

-- ---- one test ----

local function run(test, path)
  local failures = {}
  local log = {}        -- what happened, in scope, in order
  local zone = test.zone or "UTC"
  local next_id = 1
  local t = {}
  local here = test.where -- the test file's line now running a t.* call

  c.reset()

  local function fail(where, text)
    failures[#failures + 1] = where .. text
  end

  -- whose records count: the rules named, or those of the rule file
  -- beside the test (NAME_test.lua tests NAME.lua), or all
  local scope = nil
  local rules = c.rules()
  local known = {}
  for _, r in ipairs(rules) do known[r.name] = r end
  local wanted = test.rules
  if type(wanted) == "string" and wanted ~= "all" then wanted = { wanted } end
  if type(wanted) == "table" then
    scope = {}
    for i, name in ipairs(wanted) do
      if not known[name] then
        local names = {}
        for _, r in ipairs(rules) do names[#names + 1] = r.name end
        error(string.format('%srules[%d]: no rule "%s" is loaded (loaded: %s)', test.where, i,
          tostring(name), #names > 0 and table.concat(names, ", ") or "none"), 0)
      end
      scope[name] = true
    end
  elseif wanted == nil then
    local base = path:match("([^/]*)_test%.lua$")
    if base then
      for _, r in ipairs(rules) do
        if r.file == base .. ".lua" then
          scope = scope or {}
          scope[r.name] = true
        end
      end
    end
  end

  local function in_scope(rec)
    return scope == nil or rec.rule == nil or scope[rec.rule]
  end

  local function time_text(ms) return c.format_time(ms, zone) end

  local function describe(rec)
    local s = time_text(rec.at) .. "  "
    local about = rec.ticket and ("ticket " .. rec.ticket) or rec.customer and ("customer " .. rec.customer) or ""
    if rec.type == "mail" then
      s = s .. "mail from " .. (rec.rule or "?") .. " (" .. (rec.phase or "?") .. "), " .. about
        .. ", to " .. rec.to .. ": "
      if rec.subject then s = s .. quote(rec.subject) end
      if rec.template then
        local vars = {}
        for k, v in pairs(rec.vars or {}) do vars[#vars + 1] = k .. "=" .. quote(v) end
        table.sort(vars)
        s = s .. (rec.subject and " " or "") .. "[template " .. rec.template
          .. (#vars > 0 and (", " .. table.concat(vars, ", ")) or "") .. "]"
      end
      return s
    end
    s = s .. rec.event .. " of " .. (rec.rule or "?") .. ", " .. about
    if rec.phase then s = s .. " (" .. rec.phase .. ")" end
    if rec.due and rec.due ~= rec.at then s = s .. ", due " .. time_text(rec.due) end
    if rec.detail then s = s .. ", " .. rec.detail end
    return s
  end

  -- takes in what the engine reports; a rule's error fails the test
  local function absorb(recs, where)
    for _, rec in ipairs(recs) do
      if in_scope(rec) then
        if rec.type == "error" then
          fail(where, "a rule raised an error at " .. time_text(rec.at) .. ": " .. rec.message)
        else
          log[#log + 1] = rec
          if rec.type == "mail" and rec.render_error then
            fail(where, "the mail from " .. rec.rule .. " to " .. rec.to .. " (template "
              .. rec.template .. ") could not be made, so it would fail: " .. rec.render_error)
          end
        end
      end
    end
  end

  -- ---- the clock ----

  local function to_ms(v, what, level)
    if math.type(v) == "integer" then return v * 1000 end
    if type(v) ~= "string" then
      error(string.format('%s: expected a time like "2026-03-05 09:00" or Unix seconds, got %s',
        what, type(v)), 0)
    end
    local ms, why = c.parse_time(v, zone)
    if not ms then error(string.format('%s "%s": %s', what, v, why), 0) end
    return ms
  end

  local function move(ms, where)
    if c.now() == nil then
      c.clock(ms)
      absorb(c.advance(ms), where)
      return
    end
    if ms < c.now() then
      error(string.format("the clock cannot go back (it is %s; asked for %s)",
        time_text(c.now()), time_text(ms)), 0)
    end
    absorb(c.advance(ms), where)
  end

  -- t.at "2026-03-05 10:00": move the clock to that time (the first call sets it)
  function t.at(when)
    move(to_ms(when, "t.at", 2), here)
  end

  -- t.wait "2h": move the clock on by a duration
  function t.wait(d)
    local where = here
    if c.now() == nil then
      error('t.wait: set the clock first, like t.at "2026-03-05 09:00"', 0)
    end
    local ms, why = c.duration(type(d) == "string" and d or "")
    if not ms then
      error(string.format('t.wait "%s": %s', tostring(d), why or "expected a duration like \"2h\""), 0)
    end
    move(c.now() + ms, where)
  end

  -- t.now(): the test's clock in Unix seconds
  function t.now()
    local ms = c.now()
    return ms and ms // 1000
  end

  -- t.time "2026-03-05 10:00": Unix seconds
  function t.time(text)
    return to_ms(text, "t.time", 2) // 1000
  end

  -- ---- tickets ----

  local function columns(cols, what, level)
    local out = {}
    for k, v in pairs(cols) do
      if not ALL_COLS[k] then
        error(string.format('%s: unknown ticket column "%s" (known: %s)', what, tostring(k),
          COL_LIST), 0)
      end
      if k == "id" then
        if math.type(v) ~= "integer" or v < 1 then
          error(what .. ": id: expected a whole number from 1", 0)
        end
        out.id = v
      elseif v == false then
        out[k] = false
      elseif TIME_COLS[k] then
        if v == "now" and c.now() == nil then
          error(what .. ': ' .. k .. ' = "now" before the clock is set (start with t.at)', 0)
        end
        out[k] = to_ms(v, what .. ": " .. k, level + 1)
      elseif k == "extra" then
        if type(v) == "table" then
          local ok, text = pcall(json, v)
          if not ok then error(what .. ": " .. text, 0) end
          out[k] = text
        elseif type(v) == "string" then
          out[k] = v
        else
          error(what .. ": extra: expected a table like { tier = \"gold\" }", 0)
        end
      elseif type(v) == "string" or type(v) == "number" then
        out[k] = tostring(v)
      else
        error(string.format("%s: %s: expected text, got %s", what, k, type(v)), 0)
      end
      if k == "status" and v ~= false and not STATUSES[out[k]] then
        error(string.format('%s: status "%s" is not one of new, open, pending, solved, closed',
          what, out[k]), 0)
      end
      if k == "priority" and v ~= false and not PRIORITIES[out[k]] then
        error(string.format('%s: priority "%s" is not one of low, normal, high, urgent',
          what, out[k]), 0)
      end
      if (k == "created_at" or k == "subject" or k == "ref" or k == "status") and v == false then
        error(what .. ": " .. k .. " cannot be empty", 0)
      end
    end
    return out
  end

  local HANDLE = {
    __index = function(h, k)
      if ALL_COLS[k] then return c.row(rawget(h, "id"))[k] end
      return nil
    end,
    __tostring = function(h) return "ticket " .. rawget(h, "id") end,
    __metatable = false,
  }

  local function id_of(tk, what, level)
    if type(tk) == "table" and math.type(rawget(tk, "id")) == "integer" then return rawget(tk, "id") end
    if math.type(tk) == "integer" then return tk end
    error(what .. ": expected a ticket (what t.ticket returned)", 0)
  end

  -- t.ticket { priority = "urgent", ... }: a ticket, created now unless created_at says
  function t.ticket(cols)
    local where = here
    if cols == nil then cols = {} end
    if type(cols) ~= "table" then error("t.ticket: expected a table of columns", 0) end
    local row = columns(cols, "t.ticket", 2)
    if c.now() == nil then
      if not row.created_at then
        error('t.ticket: set the clock first, like t.at "2026-03-05 09:00", or give created_at', 0)
      end
      c.clock(row.created_at)
    end
    local id = row.id or next_id
    if id >= next_id then next_id = id + 1 end
    row.id = id
    if row.ref == nil then row.ref = tostring(id) end
    if row.subject == nil then row.subject = "Ticket " .. id end
    if row.status == nil then row.status = "new" end
    if row.priority == nil then row.priority = "normal" end
    if row.customer_email == nil then row.customer_email = "customer" .. id .. "@example.com" end
    if row.created_at == nil then row.created_at = c.now() end
    if row.updated_at == nil then row.updated_at = c.now() end
    for k, v in pairs(row) do if v == false then row[k] = nil end end
    local ok, got, recs = pcall(c.ticket, row)
    if not ok then error("t.ticket: " .. tostring(got), 0) end
    absorb(recs, where)
    return setmetatable({ id = got, ref = row.ref }, HANDLE)
  end

  local function change(tk, cols, what, defaults, where)
    local id = id_of(tk, what, 3)
    if cols ~= nil and type(cols) ~= "table" then error(what .. ": expected a table of columns", 0) end
    local row = columns(cols or {}, what, 3)
    if row.id then error(what .. ": the id cannot change", 0) end
    local cur = c.row(id)
    for k, v in pairs(defaults(cur)) do
      if row[k] == nil then row[k] = v end
    end
    if row.updated_at == nil then row.updated_at = c.now() end
    absorb(c.change(id, row), where)
  end

  local function none() return {} end

  -- t.change(tk, { status = "pending" }): any columns, now
  function t.change(tk, cols)
    change(tk, cols, "t.change", none, here)
  end

  -- t.reply(tk [, cols]): an agent answers now (first_reply_at if unset, last_agent_at;
  -- body = "..." is last_agent_body); a new ticket becomes open
  function t.reply(tk, cols)
    cols = cols or {}
    local body = cols.body
    local rest = {}
    for k, v in pairs(cols) do if k ~= "body" then rest[k] = v end end
    if body ~= nil then rest.last_agent_body = body end
    change(tk, rest, "t.reply", function(cur)
      return { first_reply_at = cur.first_reply_at == nil and c.now() or nil,
               last_agent_at = c.now(), status = cur.status == "new" and "open" or nil }
    end, here)
  end

  -- t.customer_reply(tk [, cols]): the customer writes now (last_customer_at);
  -- a pending ticket becomes open
  function t.customer_reply(tk, cols)
    change(tk, cols, "t.customer_reply", function(cur)
      return { last_customer_at = c.now(), status = cur.status == "pending" and "open" or nil }
    end, here)
  end

  -- t.solve(tk [, cols]): solved now
  function t.solve(tk, cols)
    change(tk, cols, "t.solve", function()
      return { status = "solved", solved_at = c.now() }
    end, here)
  end

  -- t.reopen(tk [, cols]): open again now (the customer wrote back)
  function t.reopen(tk, cols)
    change(tk, cols, "t.reopen", function()
      return { status = "open", last_customer_at = c.now() }
    end, here)
  end

  -- t.answer { score = 2, comment = "slow", ticket = tk }: the customer answers the
  -- last survey mail (of ticket tk, if given) now; the rules' on_answer(t, a) act on it
  local ANSWER_FIELDS = { score = true, comment = true, ticket = true }
  function t.answer(spec)
    local where = here
    if type(spec) ~= "table" then
      error('t.answer: expected a table, like t.answer { score = 2, comment = "slow" }', 0)
    end
    for k in pairs(spec) do
      if not ANSWER_FIELDS[k] then
        error(string.format('t.answer: unknown field "%s" (known: score, comment, ticket)',
          tostring(k)), 0)
      end
    end
    if math.type(spec.score) ~= "integer" or spec.score < 1 or spec.score > 5 then
      error("t.answer: score: a whole number from 1 to 5, as on the survey page", 0)
    end
    if spec.comment ~= nil and type(spec.comment) ~= "string" then
      error("t.answer: comment: expected text", 0)
    end
    if c.now() == nil then
      error('t.answer: set the clock first, like t.at "2026-03-05 09:00"', 0)
    end
    local id = spec.ticket ~= nil and id_of(spec.ticket, "t.answer: ticket", 2) or 0
    local ok, recs = pcall(c.answer, id, spec.score, spec.comment)
    if not ok then error("t.answer: " .. tostring(recs), 0) end
    absorb(recs, where)
  end

  -- t.row(tk): the ticket as rules see it (timestamps in Unix seconds)
  function t.row(tk)
    return c.row(id_of(tk, "t.row", 2))
  end

  -- ---- expectations ----

  local EVENT_FIELDS = { event = true, rule = true, ticket = true, phase = true, at = true,
                         due = true, detail = true, customer = true, kind = true }
  local MAIL_FIELDS = { to = true, subject = true, body = true, template = true, locale = true,
                        survey = true, vars = true, rule = true, ticket = true, phase = true,
                        at = true, due = true, customer = true, to_customer = true, kind = true }
  local EVENT_WORDS = {
    started = "a start", paused = "a pause", resumed = "a resumption", warn = "a warning",
    breach = "a breach", escalate = "an escalation", due = "a step falling due",
    met = "a met (kept) SLA or promise", cancelled = "a cancellation",
    answer = "an action on a survey answer",
  }
  local EVENTS = { started = true, paused = true, resumed = true, warn = true, breach = true,
                   escalate = true, due = true, met = true, cancelled = true, answer = true }

  -- filter { field = value | matcher | function } -> list of { field, test(v) -> bool, words }
  local function compile(filter, fields, what, level)
    if filter == nil then filter = {} end
    if type(filter) == "string" and fields == EVENT_FIELDS then filter = { event = filter } end
    if type(filter) ~= "table" then error(what .. ": expected a table like { to = \"...\" }", 0) end
    local list = {}
    for k, v in pairs(filter) do
      if not fields[k] then
        error(string.format('%s: unknown field "%s" (known: %s)', what, tostring(k),
          sorted_keys(fields)), 0)
      end
      local test, words
      if matchers[v] then
        test, words = v.fn, v.words
      elseif type(v) == "function" then
        test, words = v, "(a condition)"
      elseif k == "ticket" then
        local id = id_of(v, what .. ": ticket", level + 1)
        test, words = function(x) return x == id end, tostring(id)
      elseif k == "at" or k == "due" then
        local ms = to_ms(v, what .. ": " .. k, level + 1)
        test, words = function(x) return x == ms end, time_text(ms)
      elseif k == "vars" then
        if type(v) ~= "table" then error(what .. ": vars: expected a table", 0) end
        local want = {}
        for name, val in pairs(v) do
          local m = matchers[val] and val or nil
          want[#want + 1] = { name = name, m = m, val = (not m) and tostring(val) or nil }
        end
        table.sort(want, function(a, b) return a.name < b.name end)
        local parts = {}
        for _, w in ipairs(want) do
          parts[#parts + 1] = w.name .. " " .. (w.m and w.m.words or quote(w.val))
        end
        test = function(x)
          if type(x) ~= "table" then return false end
          for _, w in ipairs(want) do
            if w.m then
              if x[w.name] == nil or not w.m.fn(x[w.name]) then return false end
            elseif x[w.name] ~= w.val then
              return false
            end
          end
          return true
        end
        words = "{ " .. table.concat(parts, ", ") .. " }"
      else
        if k == "event" and not EVENTS[v] then
          error(string.format('%s: event "%s" is not one of started, paused, resumed, warn, '
            .. 'breach, escalate, due, met, cancelled, answer', what, tostring(v)), 0)
        end
        if k == "rule" and not known[v] then
          error(string.format('%s: no rule "%s" is loaded', what, tostring(v)), 0)
        end
        local want = v
        if type(want) == "number" then want = tostring(want) end
        test, words = function(x)
          if type(x) == "number" then x = tostring(x) end
          return x == want
        end, quote(v)
      end
      list[#list + 1] = { field = k, test = test, words = words }
    end
    table.sort(list, function(a, b) return a.field < b.field end)
    return list
  end

  local function misses(rec, list)
    local out = {}
    for _, f in ipairs(list) do
      local ok, yes = pcall(f.test, rec[f.field])
      if not ok or not yes then out[#out + 1] = f end
    end
    return out
  end

  local function words_of(list, is_mail)
    local by = {}
    for _, f in ipairs(list) do by[f.field] = f.words end
    local s
    if is_mail then
      s = "a mail"
      if by.to then s = s .. " to " .. by.to end
      if by.subject then s = s .. " with subject " .. by.subject end
      if by.template then s = s .. " from template " .. by.template end
    else
      local ev = by.event and by.event:match('^"(.*)"$')
      s = ev and EVENT_WORDS[ev] or by.event and ("a transition " .. by.event) or "a transition"
    end
    if by.rule then s = s .. " of rule " .. by.rule end
    if by.ticket then s = s .. " on ticket " .. by.ticket end
    if by.customer then s = s .. " for customer " .. by.customer end
    if by.at then s = s .. " at " .. by.at end
    for _, f in ipairs(list) do
      if not ({ to = 1, subject = 1, template = 1, event = 1, rule = 1, ticket = 1, customer = 1,
                at = 1 })[f.field] then
        s = s .. ", " .. f.field .. " " .. f.words
      end
    end
    return s
  end

  local function show_value(field, v)
    if v == nil then return "none" end
    if field == "at" or field == "due" then return time_text(v) end
    if field == "vars" then
      local parts = {}
      for k, x in pairs(v) do parts[#parts + 1] = k .. " " .. quote(x) end
      table.sort(parts)
      return "{ " .. table.concat(parts, ", ") .. " }"
    end
    return quote(v)
  end

  local function candidates(kind, list)
    local open = {}
    for _, rec in ipairs(log) do
      if rec.type == kind and not rec.seen then open[#open + 1] = rec end
    end
    return open
  end

  local function find(kind, list)
    for _, rec in ipairs(log) do
      if rec.type == kind and not rec.seen and #misses(rec, list) == 0 then return rec end
    end
    return nil
  end

  local function what_happened(kind)
    local open = candidates(kind)
    local noun = kind == "mail" and "mail" or "transition"
    if #open == 0 then
      local all = 0
      for _, rec in ipairs(log) do if rec.type == kind then all = all + 1 end end
      if all == 0 then return "\n  No " .. noun .. " at all so far (the clock is at "
        .. time_text(c.now() or 0) .. ")." end
      return "\n  Every " .. noun .. " so far was expected already (the clock is at "
        .. time_text(c.now() or 0) .. ")."
    end
    local lines = { "\n  What happened and was not yet expected (the clock is at "
      .. time_text(c.now()) .. "):" }
    for i, rec in ipairs(open) do
      if i > 12 then
        lines[#lines + 1] = "    ... and " .. (#open - 12) .. " more"
        break
      end
      lines[#lines + 1] = "    " .. describe(rec)
    end
    return table.concat(lines, "\n")
  end

  local function nearest(kind, list)
    local best, best_miss
    for _, rec in ipairs(candidates(kind)) do
      local m = misses(rec, list)
      if #m < #list and (best == nil or #m < #best_miss) then best, best_miss = rec, m end
    end
    if not best then return "" end
    local parts = {}
    for _, f in ipairs(best_miss) do
      parts[#parts + 1] = "its " .. f.field .. " was " .. show_value(f.field, best[f.field])
        .. ", not " .. f.words
    end
    return "\n  The nearest: " .. describe(best) .. "\n    " .. table.concat(parts, "; ")
  end

  local function expect(kind, filter, what, fields)
    local where = here
    local list = compile(filter, fields, what, 3)
    local rec = find(kind, list)
    if rec then
      rec.seen = true
      return true
    end
    fail(where, "expected " .. words_of(list, kind == "mail") .. ", but none happened."
      .. nearest(kind, list) .. what_happened(kind))
    return false
  end

  local function expect_not(kind, filter, what, fields)
    local where = here
    local list = compile(filter, fields, what, 3)
    local rec = find(kind, list)
    if not rec then return true end
    rec.seen = true
    local words = #list > 0 and words_of(list, kind == "mail")
      or (kind == "mail" and "a mail" or "a transition")
    fail(where, "expected no " .. words:gsub("^an? ", "") .. ", but one happened:\n    "
      .. describe(rec))
    return false
  end

  -- t.expect { event = "breach", rule = ..., ticket = tk, phase = ..., at = ... }
  -- (or t.expect "breach"): it happened; each expectation takes one
  function t.expect(filter)
    return expect("event", filter, "t.expect", EVENT_FIELDS)
  end

  -- t.expect_not { event = "breach" }: it did not happen (among what was not yet expected)
  function t.expect_not(filter)
    return expect_not("event", filter, "t.expect_not", EVENT_FIELDS)
  end

  -- t.expect_mail { to = ..., subject = ..., template = ..., vars = { ... }, ... }
  function t.expect_mail(filter)
    return expect("mail", filter, "t.expect_mail", MAIL_FIELDS)
  end

  -- t.expect_no_mail() or t.expect_no_mail { to = ... }: no (such) mail not yet expected
  function t.expect_no_mail(filter)
    return expect_not("mail", filter, "t.expect_no_mail", MAIL_FIELDS)
  end

  -- t.check(condition, "what should hold"): a check of your own
  function t.check(cond, text)
    if not cond then fail(here, "check failed: " .. tostring(text or "(no description)")) end
    return cond and true or false
  end

  -- t.mails() / t.events(): what happened so far (in scope), as tables
  local function copies(kind)
    local out = {}
    for _, rec in ipairs(log) do
      if rec.type == kind then
        local copy = {}
        for k, v in pairs(rec) do if k ~= "seen" then copy[k] = v end end
        if copy.at then copy.at = copy.at // 1000 end
        if copy.due then copy.due = copy.due // 1000 end
        out[#out + 1] = copy
      end
    end
    return out
  end
  function t.mails() return copies("mail") end
  function t.events() return copies("event") end

  -- t.show(): what happened so far (in scope), as TAP comments, to see
  -- what a rule does while writing its test
  function t.show()
    c.note(here .. "what happened so far (the clock is at "
      .. (c.now() and time_text(c.now()) or "not set") .. "):")
    if #log == 0 then c.note("  nothing") end
    for _, rec in ipairs(log) do
      c.note("  " .. describe(rec) .. (rec.seen and "  (expected)" or ""))
    end
  end

  -- t.contains "text", t.matches "lua pattern": for subject, body, to, vars, ...
  function t.contains(text)
    return matcher("containing " .. quote(text), function(v)
      return type(v) == "string" and v:find(text, 1, true) ~= nil
    end)
  end
  function t.matches(pattern)
    return matcher("matching " .. quote(pattern), function(v)
      return type(v) == "string" and v:find(pattern) ~= nil
    end)
  end

  -- Every t.* call knows the test file's line that made it (for messages),
  -- and its errors name that line; t:at(...) works as well as t.at(...).
  local methods = {}
  for k, f in pairs(t) do methods[k] = f end
  for k, f in pairs(methods) do
    t[k] = function(...)
      local args = table.pack(...)
      local from = 1
      if args[1] == t then from = 2 end
      local saved = here
      here = c.where(2)
      local res = table.pack(pcall(f, table.unpack(args, from, args.n)))
      local line = here
      here = saved
      if not res[1] then
        local msg = tostring(res[2])
        if not msg:match("^[^%s]+:%d+: ") then msg = line .. msg end
        error(msg, 0)
      end
      return table.unpack(res, 2, res.n)
    end
  end

  if test.start then
    local ok, ms = pcall(to_ms, test.start, "start", 1)
    if not ok then error(test.where .. tostring(ms), 0) end
    move(ms, test.where)
  end
  local ok, err = pcall(test.fn, t)
  if not ok then
    failures[#failures + 1] = tostring(err)
  end
  return failures
end

return {
  -- the tests the last file declared
  take = function()
    local list = declared
    declared = {}
    return list
  end,
  run = run,
}
