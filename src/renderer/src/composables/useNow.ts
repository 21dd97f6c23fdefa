import { onBeforeUnmount, ref, type Ref } from 'vue'
import { every } from '../services/ticker'

/** The current time, refreshed every `ms` while the component lives (for countdowns). */
export function useNow(ms = 1000): Ref<number> {
  const now = ref(Date.now())
  const stop = every(ms, () => (now.value = Date.now()))
  onBeforeUnmount(stop)
  return now
}
