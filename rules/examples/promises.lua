-- Never break a promise: a date given to the customer (the helpdesk's due
-- date), or one an agent wrote in a reply ("by tomorrow", "خلال 24 ساعة",
-- "تا فردا"), is watched like a deadline.  Copy to rules.d/ and adjust.

promise "promised-date" {
  at = "due_at",                        -- RT's Due, Zammad's pending_time, ...
  stop = "solved_at",                   -- kept when solved before the date
  warn = { "2h" },
  on_warn = function(t, s)
    mail { to = t.owner_email or "support-lead@example.com",
           subject = "Promise due in 2 hours: #" .. t.ref .. " " .. t.subject }
  end,
  on_breach = {
    function(t, s)
      mail { to = t.owner_email or "support-lead@example.com",
             subject = "Promise broken: #" .. t.ref .. " " .. t.subject }
    end,
    after "4h" (function(t, s)
      mail { to = "support-lead@example.com", subject = "Still broken: #" .. t.ref }
    end),
  },
}

-- What an agent promised in words (needs the optional column last_agent_body).
promise "promised-in-words" {
  at = function(t) return wafa.promise_in(t.last_agent_body, t) end,
  when = function(t) return t.due_at == nil end,   -- the date field wins when set
  warn = { "1h" },
  on_warn = function(t, s)
    mail { to = t.owner_email or "support-lead@example.com",
           subject = "You promised #" .. t.ref .. " for within the hour" }
  end,
  on_breach = function(t, s)
    mail { to = t.owner_email or "support-lead@example.com",
           subject = "Promise in your reply was not kept: #" .. t.ref }
  end,
}
