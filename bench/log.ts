/** progress lines go to stderr: stdout carries only the report */
export const log = (line: string) => process.stderr.write(`${line}\n`);
