sla "fr" { stop = "first_reply_at", target = { urgent = "1h", default = "8h" },
  when = function(t) return t.queue == "Support" end,
  warn = { "75%", "30m" }, on_warn = function(t, s) mail { to = t.owner_email, subject = "soon" } end,
  on_breach = { function(t, s) mail { to = "a@example.com", subject = "x" .. s.phase } end,
                after "2h" (function(t, s) print(s.overdue) end) } }
