"""The pages' words in `en` and `zh-CN`; a site changes any of them by overriding the template that shows it."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "subscribe_title": "Subscribe to {site}",
        "subscribe_intro": "Get each new issue by email. We send you one email to confirm; nothing else until you do.",
        "email": "Email address",
        "email_hint": "For example, name@example.com",
        "topics": "Topics",
        "topics_hint": "Leave all unticked to get every article.",
        "honeypot": "Leave this field empty",
        "subscribe_button": "Subscribe",
        "bad_address": "That is not an email address we can write to: {reason}",
        "bad_input": "This form held something it cannot: a line break or a control character.",
        "check_title": "Check your inbox",
        "check_body": "If {address} can receive mail, a message to confirm the subscription is on its way. "
        "Open it and press the button in it. The link works for {hours} hours.",
        "too_many_title": "Too many sign-ups",
        "too_many_body": "Too many sign-ups came from your network in the last hour. Please try again later.",
        "confirm_title": "Confirm your subscription",
        "confirm_body": "Press the button to start getting {site} by email.",
        "confirm_button": "Confirm my subscription",
        "confirmed_title": "You are subscribed",
        "confirmed_body": "Thank you. The next issue of {site} will be in your inbox.",
        "already_confirmed_title": "Already confirmed",
        "already_confirmed_body": "This subscription is confirmed already; there is nothing more to do.",
        "unsubscribe_title": "Unsubscribe",
        "unsubscribe_body": "Press the button to stop getting {site} by email.",
        "unsubscribe_button": "Unsubscribe",
        "unsubscribed_title": "You are unsubscribed",
        "unsubscribed_body": "You will get no more issues of {site}. You can subscribe again at any time.",
        "already_unsubscribed_title": "Already unsubscribed",
        "already_unsubscribed_body": "This address gets no issues of {site}; there is nothing more to do.",
        "preferences_title": "Your preferences",
        "preferences_body": "Choose the topics you want in each issue of {site}.",
        "preferences_none": "{site} has no topics to choose from: each issue holds every article.",
        "preferences_left": "This address is not subscribed to {site} at the moment.",
        "save_button": "Save my choices",
        "saved_title": "Saved",
        "saved_all": "You will get every article.",
        "saved_some": "You will get articles about: {topics}.",
        "manage_link": "Change my topics",
        "unsubscribe_link": "Unsubscribe instead",
        "subscribe_link": "Subscribe again",
        "invalid_title": "This link does not work",
        "invalid_body": "The link is incomplete or was changed. Open it again from the email, "
        "or copy the whole address into your browser.",
        "expired_title": "This link has expired",
        "expired_body": "Confirmation links work for {hours} hours. Subscribe again to get a new one.",
        "stale_title": "This link is no longer valid",
        "stale_body": "A newer email replaced this one, or the subscription changed since it was sent. "
        "Use the newest email, or subscribe again.",
        "not_found_title": "Page not found",
        "not_found_body": "There is no page at this address.",
        "too_large_title": "Too much data",
        "too_large_body": "The form sent more data than these pages accept.",
        "unavailable_title": "Not available",
        "unavailable_body": "Something went wrong on our side. Please try again in a few minutes.",
    },
    "zh-CN": {
        "subscribe_title": "订阅{site}",
        "subscribe_intro": "每期新内容都会发送到您的邮箱。我们会先发一封确认邮件，您确认之前不会收到其他邮件。",
        "email": "电子邮件地址",
        "email_hint": "例如 name@example.com",
        "topics": "主题",
        "topics_hint": "都不勾选即接收全部文章。",
        "honeypot": "请勿填写此栏",
        "subscribe_button": "订阅",
        "bad_address": "无法向这个地址发信：{reason}",
        "bad_input": "表单中含有不允许的内容（换行或控制字符）。",
        "check_title": "请查收邮件",
        "check_body": "如果 {address} 能够收信，一封确认订阅的邮件正在发送。"
        "请打开邮件并点击其中的按钮。链接在 {hours} 小时内有效。",
        "too_many_title": "订阅请求过多",
        "too_many_body": "过去一小时内来自您网络的订阅请求过多，请稍后再试。",
        "confirm_title": "确认订阅",
        "confirm_body": "点击下面的按钮，开始通过邮件接收{site}。",
        "confirm_button": "确认订阅",
        "confirmed_title": "订阅成功",
        "confirmed_body": "谢谢！下一期{site}将发送到您的邮箱。",
        "already_confirmed_title": "已经确认",
        "already_confirmed_body": "这个订阅已经确认过了，无需再做什么。",
        "unsubscribe_title": "退订",
        "unsubscribe_body": "点击下面的按钮，不再通过邮件接收{site}。",
        "unsubscribe_button": "退订",
        "unsubscribed_title": "已退订",
        "unsubscribed_body": "您将不再收到{site}。您可以随时重新订阅。",
        "already_unsubscribed_title": "已经退订",
        "already_unsubscribed_body": "这个地址不会再收到{site}，无需再做什么。",
        "preferences_title": "订阅偏好",
        "preferences_body": "选择您希望在每期{site}中看到的主题。",
        "preferences_none": "{site}没有可选的主题：每期包含全部文章。",
        "preferences_left": "这个地址目前没有订阅{site}。",
        "save_button": "保存选择",
        "saved_title": "已保存",
        "saved_all": "您将收到全部文章。",
        "saved_some": "您将收到以下主题的文章：{topics}。",
        "manage_link": "更改主题",
        "unsubscribe_link": "改为退订",
        "subscribe_link": "重新订阅",
        "invalid_title": "链接无效",
        "invalid_body": "链接不完整或已被修改。请从邮件中重新打开，或把完整的链接复制到浏览器中。",
        "expired_title": "链接已过期",
        "expired_body": "确认链接在 {hours} 小时内有效。请重新订阅以获取新的链接。",
        "stale_title": "链接已失效",
        "stale_body": "这封邮件已被更新的邮件取代，或订阅状态在发送后已经改变。请使用最新的邮件，或重新订阅。",
        "not_found_title": "页面不存在",
        "not_found_body": "这个地址没有页面。",
        "too_large_title": "数据过多",
        "too_large_body": "表单发送的数据超过了允许的大小。",
        "unavailable_title": "暂时无法使用",
        "unavailable_body": "我们这边出了问题，请过几分钟再试。",
    },
}
LANGUAGES = tuple(LABELS)


def language_of(requested: str | None, default: str) -> str:
    """The pages' language: `requested` (a `?lang=`) if digest has its labels, else `default`'s, else English."""
    for candidate in (requested, default):
        if not candidate:
            continue
        norm = candidate.replace("_", "-").casefold()
        for key in LABELS:
            if key.casefold() == norm:
                return key
        base = norm.split("-")[0]
        for key in LABELS:
            if key.casefold().split("-")[0] == base:
                return key
    return "en"
