/**
 * A desktop notification when a web client joins one of the app's speakers: the operator may be
 * in another application when someone starts talking to the speaker.
 */
import type { Notification, NotificationConstructorOptions } from 'electron'
import type { Language, WindowStatus } from '../../shared/contract'
import { SHELL_TEXT, summarize } from './status'

type NotificationLike = Pick<Notification, 'show' | 'on'>

export interface JoinNotifierDeps {
  Notification: { isSupported(): boolean; new (options: NotificationConstructorOptions): NotificationLike }
  language: () => Language
  iconPath?: string
  /** A click on the notification (e.g. bring the window). */
  onClick?: () => void
}

/** Returns the onStatus listener: it notifies whenever the number of joined web clients rises. */
export function createJoinNotifier(deps: JoinNotifierDeps): (statuses: readonly WindowStatus[]) => void {
  let joined = 0
  // Held until the next one: a notification that is garbage-collected loses its click handler.
  let current: NotificationLike | null = null
  return (statuses) => {
    const now = summarize(statuses).joinedWebClients
    const rose = now > joined
    joined = now
    if (!rose || !deps.Notification.isSupported()) return
    const text = SHELL_TEXT[deps.language()]
    current = new deps.Notification({
      title: text.joinedTitle,
      body: text.joinedBody(now),
      ...(deps.iconPath ? { icon: deps.iconPath } : {})
    })
    const onClick = deps.onClick
    if (onClick) current.on('click', () => onClick())
    current.show()
  }
}
