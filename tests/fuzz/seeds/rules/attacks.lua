-- Rules that attack the sandbox (issue 17): the fuzzer mutates from here.
-- A finalizer through the library's metatable, or one got past setmetatable's check
local step = after "1h" (function() end)
local mt = getmetatable(step)
if type(mt) == "table" then mt.__gc = function() while true do end end end
local sneaky = setmetatable({}, { __index = function(m, k)
  if k == "__gc" then rawset(m, "__gc", function() while true do end end) end end })
pcall(setmetatable, {}, sneaky)
local cache = {}
sla "attacks" {
  target = "1s",
  -- fills the state to the memory cap inside its own pcall
  when = function(t)
    pcall(function() while true do cache[#cache + 1] = ("x"):rep(1000) .. #cache end end)
    return true
  end,
  on_breach = {
    function(t, s)
      -- patterns that backtrack: each must cost the budget, not the daemon
      string.find(("a"):rep(200000), "a*b")
      ;(("a"):rep(3000)):find(".-.-b")
      string.find(("a?"):rep(26) .. ("a"):rep(26), ("a?"):rep(26) .. ("a"):rep(26) .. "b")
      t.subject:find("a*b")
      print("x\n2026-01-01T00:00:00.000Z error daemon: FORGED")
    end,
    after "1h" (function(t, s)
      mail { to = "cust@example.com, spam1@evil.example", subject = "list" }
      mail { to = 'Mallory <mallory@evil.example>, "Real" <real@example.com>', subject = "group" }
      mail { to = wafa.address('Real "R" \226\128\174gnaM', "real@example.com"), subject = "ok" }
    end),
  },
}
