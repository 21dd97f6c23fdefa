/** A JSON file in the user-data folder, written whole and replaced atomically. */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

export class JsonFile {
  /** Writes run one after another, so an older snapshot never lands after a newer one. */
  private writing: Promise<void> = Promise.resolve()

  constructor(readonly path: string) {}

  /** The parsed contents; throws when the file is missing or not JSON. */
  async read(): Promise<unknown> {
    return JSON.parse(await readFile(this.path, 'utf8')) as unknown
  }

  /**
   * Writes `value` through a temporary file and a rename, so that a crash never leaves half a
   * file. The snapshot is taken now; a failed write does not stop the ones after it.
   */
  write(value: unknown, indent?: number): Promise<void> {
    const text = JSON.stringify(value, null, indent)
    const next = this.writing
      .catch(() => undefined)
      .then(async () => {
        await mkdir(dirname(this.path), { recursive: true })
        const tmp = `${this.path}.${process.pid}.tmp`
        await writeFile(tmp, text)
        await rename(tmp, this.path)
      })
    this.writing = next
    return next
  }
}
