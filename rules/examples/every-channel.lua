-- Keep every channel answered: a chat waits minutes, a phone callback an
-- hour, a public post two hours, a mail one working day.  The channel comes
-- from the helpdesk (here extra.channel in the ticket view; a queue works as
-- well); each channel's lead hears of a miss, the head of support if it
-- lasts.  Wall-clock time: a chat at night is still a chat (add
-- calendar = "..." where a channel keeps office hours).  Copy to rules.d/.

local TARGET = { chat = "15m", phone = "1h", social = "2h", email = "8h" }
local LEAD = { chat = "chat-lead@example.com", phone = "phone-lead@example.com",
               social = "social-lead@example.com", email = "support-lead@example.com" }

local function channel(t)
  local c = t.extra and t.extra.channel
  if TARGET[c] then return c end
  return "email"
end

-- The first answer, by channel.
sla "channel-first-reply" {
  start = "created_at", stop = "first_reply_at",
  target = function(t) return TARGET[channel(t)] end,
  pause = { "pending" },
  warn = { "50%" },
  on_warn = function(t, s)
    mail { to = t.owner_email or LEAD[channel(t)],
           subject = "Half the time gone on " .. channel(t) .. ": #" .. t.ref .. " " .. t.subject }
  end,
  on_breach = {
    function(t, s)
      mail { to = LEAD[channel(t)],
             subject = "Unanswered " .. channel(t) .. ": #" .. t.ref .. " " .. t.subject,
             body = (t.customer_name or t.customer_email or "A customer") .. " has waited "
                 .. s.target // 60 .. " minutes on " .. channel(t) .. ".\n" }
    end,
    after "1h" (function(t, s)
      mail { to = "head-of-support@example.com",
             subject = "Still unanswered after an hour more (" .. channel(t) .. "): #" .. t.ref }
    end),
  },
}

-- Every later message from the customer, by the same clock.
sla "channel-next-reply" {
  start = "last_customer_at", stop = "last_agent_at",
  when = function(t) return t.first_reply_at ~= nil end,   -- the first reply is above
  target = function(t) return TARGET[channel(t)] end,
  pause = { "pending" },
  on_breach = function(t, s)
    mail { to = t.owner_email or LEAD[channel(t)],
           subject = "Customer waiting on " .. channel(t) .. ": #" .. t.ref .. " " .. t.subject }
  end,
}
