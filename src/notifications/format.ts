import type { Notification } from "./notifications.js"

type NotificationFormat = "json" | "slack"

/** Slack and Mattermost read `<`, `>` and `&` as markup in message text. */
const escapeSlack = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

/**
 * The request body for a notification: the whole notification as JSON, or for `slack` the
 * `{"text": ...}` message that Slack and Mattermost incoming webhooks accept.
 */
export const formatBody = (notification: Notification, format: NotificationFormat): string => {
  if (format === "json") return JSON.stringify(notification)
  const link = notification.job ? ` (${notification.job.link})` : ""
  return JSON.stringify({ text: `synclog: ${escapeSlack(notification.message)}${escapeSlack(link)}` })
}
