/**
 * For hold-to-talk buttons: the button keeps the pointer until it is released, so a layout change
 * under it (a status line appearing as talking starts) does not count as letting go.
 */
export function pressAndHold(e: PointerEvent, start: () => void): void {
  const el = e.currentTarget as HTMLElement | null
  if (el?.isConnected) el.setPointerCapture(e.pointerId)
  start()
}
