-- Close what the customer left: a ticket waiting on the customer (pending)
-- reminds them every three days, at most three times, in their language
-- (the pending-reminder template, rules/templates/{en,ar,fa}); three days
-- after the third reminder with no answer, wafa closes it as solved with a
-- polite public note, through the helpdesk's API ([api] in wafa.conf).  An
-- answer from the customer, or an agent's change of status, stops it.
-- Copy to rules.d/ and adjust.

local CLOSING = {
  en = "We have not heard back from you, so we are closing this request for now. "
    .. "If you still need help, just reply to this message and it opens again.",
  ar = "لم يصلنا ردّك، لذا سنغلق هذا الطلب الآن. إذا كنت ما زلت بحاجة إلى المساعدة، "
    .. "فيكفي أن تردّ على هذه الرسالة وسيُعاد فتحه.",
  fa = "پاسخی از شما دریافت نکردیم، بنابراین این درخواست را فعلاً می‌بندیم. اگر هنوز به "
    .. "کمک نیاز دارید، کافی است به همین پیام پاسخ دهید تا دوباره باز شود.",
}

local function who(t) return t.customer_name or t.customer_email end
local function language(t) return (t.customer_locale or "en"):match("^(%a%a)") or "en" end

followup "pending-close" {
  since = "last_agent_at", after = "3d", every = "3d", max = 4,
  when = function(t) return t.status == "pending" and t.customer_email ~= nil end,
  stop = function(t, s)
    return t.status ~= "pending" or (t.last_customer_at or 0) > (t.last_agent_at or 0)
  end,
  on_due = function(t, s)
    if s.count <= 3 then
      mail { to = t.customer_email, template = "pending-reminder",
             vars = { customer_name = who(t), ticket_ref = t.ref, ticket_subject = t.subject,
                      asked_date = wafa.date(t.last_agent_at, t), reminder = s.count } }
    else
      ticket { note = CLOSING[language(t)] or CLOSING.en, internal = false, status = "solved",
               tags = { "closed-no-answer" } }
    end
  end,
}
