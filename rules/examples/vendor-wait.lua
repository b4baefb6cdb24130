-- Waiting on a vendor: the resolution clock stops while the ticket waits on
-- someone outside the team (a vendor, a supplier, a carrier), not only on
-- the customer.  Helpdesks say so in their own status names ("Waiting for
-- vendor", "On hold"), which the adapter maps to open, so pause = { "pending" }
-- alone does not see them; some teams mark it in a custom field instead
-- (t.extra.waiting_on).  The pause list takes all three, mixed: a normalized
-- status, the helpdesk's own status as raw "...", and a function of the ticket.
-- Copy to rules.d/ and put your helpdesk's status names in.
sla "vendor-aware-resolution" {
  start  = "created_at",
  stop   = "solved_at",
  target = { urgent = "8h", default = "24h" },
  pause  = {
    "pending",                                 -- waiting on the customer
    raw "Waiting for vendor", raw "On hold",   -- the helpdesk's own statuses, any case
    function(t)                                -- a field the agents set
      return t.extra ~= nil and t.extra.waiting_on == "vendor"
    end,
  },
  warn = { "75%" },
  on_warn = function(t, s)
    mail {
      to      = t.owner_email or "support-lead@example.com",
      subject = "Due soon: #" .. t.ref .. " " .. t.subject,
      body    = "Ticket #" .. t.ref .. " is due " .. wafa.datetime(s.deadline, t)
             .. ". Time spent waiting on a vendor does not count.\n",
    }
  end,
  on_breach = function(t, s)
    mail {
      to      = "support-lead@example.com",
      subject = "Resolution overdue: #" .. t.ref .. " " .. t.subject,
      body    = "Ticket #" .. t.ref .. " has been open " .. s.target // 3600
             .. " hours, not counting the time it waited on a vendor.\n",
    }
  end,
}
