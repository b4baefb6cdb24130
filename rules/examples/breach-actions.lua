-- Act on a breach, not only mail about it: raise the ticket's priority,
-- hand it to a backup agent, leave an internal note saying why, tag it,
-- and tell the on-call channel.  The ticket changes go through the
-- helpdesk's API ([api] in wafa.conf; the generic adapter has none and
-- parks them); the message goes to the webhook [webhook oncall] names.
-- Copy to rules.d/ and adjust.

local BACKUP = "backup@example.com"

sla "breach-actions" {
  start  = "created_at",
  stop   = "first_reply_at",
  target = { urgent = "1h", high = "4h", default = "8h" },
  when   = function(t) return t.status ~= "closed" and t.status ~= "solved" end,
  on_breach = function(t, s)
    ticket {
      priority = "urgent",
      owner    = BACKUP,
      note     = "No first reply within " .. s.target // 3600 .. " h: raised to urgent and "
              .. "handed to " .. BACKUP .. " by wafa (rule breach-actions).",
      internal = true,
      tags     = { "sla-breached" },
    }
    notify {
      webhook = "oncall",
      text    = "SLA breached: #" .. t.ref .. " " .. t.subject .. " (now with " .. BACKUP .. ")",
      fields  = { ticket = t.ref, priority = t.priority or "normal",
                  was_owner = t.owner_email or "nobody" },
    }
  end,
}
