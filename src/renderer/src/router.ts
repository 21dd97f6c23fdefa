/** Hash routes (#/device, #/console) so views are deep-linkable and the host's token query stays. */
import { ref } from 'vue'

export const ROUTES = ['/', '/device', '/console', '/signaling', '/history', '/kiosk'] as const
export type Route = (typeof ROUTES)[number]

function parse(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/'
  return (ROUTES as readonly string[]).includes(path) ? (path as Route) : '/'
}

export const route = ref<Route>(parse(location.hash))
window.addEventListener('hashchange', () => (route.value = parse(location.hash)))

export function href(r: Route): string {
  return `#${r}`
}
