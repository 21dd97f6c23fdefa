import { type Ref, onScopeDispose, ref, watch } from 'vue'
import { after } from '../services/ticker'

/**
 * How long a call's state must hold before it is shown. A call passes answering, connecting and
 * live within a tenth of a second: shown one by one, they flash by unread, and each costs both
 * pages a frame (style, layout, paint, compositing) while the call's own steps wait for the CPU.
 */
export const STATUS_SETTLE_MS = 250

/**
 * A value for display that follows `source` once it has held for `settleMs`; `urgent` values (an
 * ended or failed call) show at once.
 */
export function useSettled<T>(
  source: () => T,
  urgent: (value: T) => boolean = () => false,
  settleMs = STATUS_SETTLE_MS
): Readonly<Ref<T>> {
  const shown = ref(source()) as Ref<T>
  let cancel: (() => void) | null = null
  const show = (value: T): void => {
    cancel?.()
    cancel = null
    shown.value = value
  }
  watch(source, (value) => {
    if (urgent(value)) return show(value)
    cancel?.()
    cancel = after(settleMs, () => show(value))
  })
  // Silent outside a scope (a store's watcher): there the value lives as long as the page.
  onScopeDispose(() => cancel?.(), true)
  return shown
}
