-- Never promise what can't be kept.  A promise (the helpdesk's due date, or
-- what an agent wrote: "by tomorrow", "خلال 24 ساعة", "تا فردا") that leaves
-- less than four hours is questioned the moment it is made; an hour before
-- it runs out the agent is told to keep it or give the customer a new date
-- now, not after; a broken one goes to the lead, and a day later to the
-- head of support.  Moving the date in time (a new due date) starts a new
-- promise, so an honest correction is never counted as broken.  Copy to
-- rules.d/ (promises.lua watches the same dates more simply; use one).

local LEAD = "support-lead@example.com"

local function owner(t) return t.owner_email or LEAD end

promise "honest-promise" {
  at = function(t)
    if t.due_at then return t.due_at end
    return wafa.promise_in(t.last_agent_body, t)
  end,
  warn = { "4h", "1h" },
  on_warn = function(t, s)
    if s.phase == "warn-4h" then
      -- due before the promise was made: it was given with less than 4 hours
      if now() - s.due >= 60 then
        mail { to = owner(t),
               subject = "Can you keep it? Less than 4 hours promised on #" .. t.ref .. " " .. t.subject,
               body = "The promise on #" .. t.ref .. " runs out at " .. wafa.datetime(s.at, t)
                   .. ". If it cannot be kept, tell the customer a date you can keep, now.\n" }
      end
      return
    end
    mail { to = owner(t),
           subject = "One hour left on your promise: #" .. t.ref .. " " .. t.subject,
           body = "Keep it, or tell the customer a new date before it runs out.\n" }
  end,
  on_breach = {
    function(t, s)
      mail { to = LEAD, subject = "Promise broken: #" .. t.ref .. " " .. t.subject,
             body = "Promised for " .. wafa.datetime(s.at, t) .. " by "
                 .. (t.owner_name or t.owner_email or "nobody") .. ".\n" }
    end,
    after "1d" (function(t, s)
      mail { to = "head-of-support@example.com",
             subject = "Broken for a day: #" .. t.ref .. " " .. t.subject }
    end),
  },
}
