-- Remember loyal customers.  A customer the helpdesk marks as loyal (a gold
-- or platinum tier, or ten orders and more, in the ticket view's extra) is
-- answered within two hours, and the team hears of it at half time; and
-- once a year a customer who has been with us a year or more, had three
-- cases solved, has none open and no broken SLA in the last 90 days gets a
-- thank-you with a gift (template thank-you-offer).  Copy to rules.d/ and
-- adjust the tiers and the gift.

local LEAD = "support-lead@example.com"

local function loyal(t)
  local x = t.extra or {}
  return x.tier == "gold" or x.tier == "platinum" or (tonumber(x.orders) or 0) >= 10
end

sla "loyal-first-reply" {
  start = "created_at", stop = "first_reply_at",
  when = loyal,
  target = "2h",
  pause = { "pending" },
  warn = { "50%" },
  on_warn = function(t, s)
    mail { to = t.owner_email or LEAD,
           subject = "Loyal customer waiting: #" .. t.ref .. " " .. t.subject
               .. " (" .. (t.customer_name or t.customer_email) .. ")" }
  end,
  on_breach = function(t, s)
    mail { to = LEAD, subject = "Loyal customer not answered in 2 hours: #" .. t.ref .. " " .. t.subject }
  end,
}

offer "loyal-anniversary" {
  every = "365d",
  audience = function(c)
    local year, quarter = duration("365d"), duration("90d")
    return c.solved >= 3 and c.open == 0
       and c.first_contact ~= nil and now() - c.first_contact >= year
       and (c.last_breach == nil or now() - c.last_breach > quarter)
  end,
  on_due = function(c, s)
    mail { to = c.email, template = "thank-you-offer",
           vars = { customer_name = c.name or c.email,
                    offer_code = "LOYAL-" .. s.instance,
                    offer_expiry = wafa.date(now() + duration("30d"), c),
                    offer_url = "https://shop.example.com/loyal" } }
  end,
}
