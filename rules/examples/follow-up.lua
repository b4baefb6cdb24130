-- Follow up until solved.  An open ticket nobody has written on for a day
-- reminds its owner every day (the lead too from the third day) until an
-- agent writes, it waits on the customer, or it is solved; and a customer
-- who has heard nothing for two days gets a short "still on it" note, every
-- two days, at most three times.  An agent's message starts the count
-- anew.  Copy to rules.d/ and adjust.

local LEAD = "support-lead@example.com"

local function working(t) return t.status == "new" or t.status == "open" end

followup "nudge-owner" {
  since = "last_agent_at", after = "1d", every = "1d", max = 14,
  when = working,
  stop = function(t, s) return not working(t) end,
  on_due = function(t, s)
    mail { to = t.owner_email or LEAD,
           subject = "No update for " .. s.count .. " day(s): #" .. t.ref .. " " .. t.subject }
    if s.count >= 3 then
      mail { to = LEAD, subject = "Stalled " .. s.count .. " days: #" .. t.ref .. " " .. t.subject }
    end
  end,
}

followup "still-on-it" {
  since = "last_agent_at", after = "2d", every = "2d", max = 3,
  when = function(t) return working(t) and t.customer_email ~= nil end,
  stop = function(t, s) return not working(t) end,
  on_due = function(t, s)
    mail { to = t.customer_email,
           subject = "Re: " .. t.subject .. " [#" .. t.ref .. "]",
           body = "Hello " .. (t.customer_name or "") .. ",\n\nWe are still working on your request #"
               .. t.ref .. " and will write again as soon as we know more.\n" }
  end,
}
