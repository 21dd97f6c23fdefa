import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope, nextTick, ref } from 'vue'
import { STATUS_SETTLE_MS, useSettled } from '../../src/renderer/src/composables/useSettled'
import { activeTimers } from '../../src/renderer/src/services/ticker'

type State = 'joined' | 'answering' | 'connecting' | 'live' | 'failed'

function settled(initial: State) {
  const scope = effectScope()
  const source = ref<State>(initial)
  const shown = scope.run(() =>
    useSettled(
      () => source.value,
      (s) => s === 'failed' || s === 'joined'
    )
  )!
  return { source, shown, scope }
}

async function set(source: { value: State }, value: State): Promise<void> {
  source.value = value
  await nextTick()
}

describe('useSettled', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('skips states that pass within the settle time and shows the one that holds', async () => {
    const { source, shown, scope } = settled('joined')
    await set(source, 'answering')
    vi.advanceTimersByTime(40)
    await set(source, 'connecting')
    vi.advanceTimersByTime(60)
    await set(source, 'live')
    expect(shown.value).toBe('joined')
    vi.advanceTimersByTime(STATUS_SETTLE_MS - 1)
    expect(shown.value).toBe('joined')
    vi.advanceTimersByTime(1)
    expect(shown.value).toBe('live')
    scope.stop()
  })

  it('shows urgent states at once and drops a change still waiting', async () => {
    const { source, shown, scope } = settled('live')
    await set(source, 'connecting')
    await set(source, 'failed')
    expect(shown.value).toBe('failed')
    vi.advanceTimersByTime(STATUS_SETTLE_MS * 2)
    expect(shown.value).toBe('failed')
    scope.stop()
  })

  it('leaves no timer behind when its scope ends', async () => {
    const before = activeTimers()
    const { source, scope } = settled('joined')
    await set(source, 'answering')
    expect(activeTimers()).toBe(before + 1)
    scope.stop()
    expect(activeTimers()).toBe(before)
  })
})
